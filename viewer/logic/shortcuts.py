"""Every keyboard shortcut in one table, close to OHIF's defaults; actions and the help dialog read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    command: str
    keys: tuple[str, ...]
    text: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open", ("Ctrl+O",), "Open a file or folder", "File"),
    Shortcut("open_folder", ("Ctrl+Shift+O",), "Open a folder", "File"),
    Shortcut("pacs", ("Ctrl+Shift+P",), "PACS: find a study, retrieve it and open it", "File"),
    Shortcut("load_mask", ("Ctrl+M",), "Load a mask or heatmap onto the open image", "File"),
    Shortcut("screenshot", ("Ctrl+S",), "Save a screenshot of the views (PNG)", "File"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "File"),
    Shortcut("next_slice", ("Down",), "Next slice (also mouse wheel down)", "Navigate"),
    Shortcut("previous_slice", ("Up",), "Previous slice (also mouse wheel up)", "Navigate"),
    Shortcut("page_down", ("PgDown",), "10 slices forward", "Navigate"),
    Shortcut("page_up", ("PgUp",), "10 slices back", "Navigate"),
    Shortcut("first_slice", ("Home",), "First slice", "Navigate"),
    Shortcut("last_slice", ("End",), "Last slice", "Navigate"),
    Shortcut("next_pane", ("Right",), "Next pane", "Navigate"),
    Shortcut("previous_pane", ("Left",), "Previous pane", "Navigate"),
    Shortcut("cine", ("Space",), "Cine play / stop", "Navigate"),
    Shortcut("next_study", ("N",), "Next study of the worklist (as sorted and filtered)", "Navigate"),
    Shortcut("previous_study", ("Shift+N",), "Previous study of the worklist", "Navigate"),
    Shortcut("zoom_in", ("+", "="), "Zoom in (also Ctrl + wheel)", "View"),
    Shortcut("zoom_out", ("-",), "Zoom out", "View"),
    Shortcut("fit", ("F",), "Fit the image to the pane", "View"),
    Shortcut("reset", ("R",), "Reset window, zoom and pan", "View"),
    Shortcut("invert", ("I",), "Invert grey levels", "View"),
    Shortcut("crosshair_lines", ("X",), "Show or hide the crosshair lines", "View"),
    Shortcut("layout_1x1", ("Ctrl+1",), "Layout 1x1 (active pane)", "View"),
    Shortcut("layout_1x3", ("Ctrl+2",), "Layout 1x3 (axial, coronal, sagittal)", "View"),
    Shortcut("layout_2x2", ("Ctrl+3",), "Layout 2x2 (three planes + overview)", "View"),
    Shortcut("reading_mode", ("F11",), "Reading mode: the images full screen, panels hidden (F11 or Esc to leave)", "View"),
    Shortcut("tab_panels", ("Ctrl+T",), "Panels as tabs: each side's panels in one tab group, the image gets the room", "View"),
    Shortcut("next_panel", ("F6",), "Keyboard focus to the next panel (the views, then each panel shown)", "View"),
    Shortcut("previous_panel", ("Shift+F6",), "Keyboard focus to the previous panel", "View"),
    Shortcut("prior_current", ("Ctrl+Shift+C",), "Compare with a prior study of the patient (side by side, scrolled together)", "View"),
    Shortcut("link_prior", ("Ctrl+L",), "Prior/current: scroll together on/off (switched on, the slices shown correspond)", "View"),
    Shortcut("preset_0", ("0",), "Window preset 0 (the series' own header window, the default)", "Window"),
    Shortcut("preset_1", ("1",), "Window preset 1 (lung 1500/-600)", "Window"),
    Shortcut("preset_2", ("2",), "Window preset 2 (mediastinum 350/50)", "Window"),
    Shortcut("preset_3", ("3",), "Window preset 3 (bone 2000/500)", "Window"),
    Shortcut("preset_4", ("4",), "Window preset 4 (soft tissue 400/40)", "Window"),
    Shortcut("preset_5", ("5",), "Window preset 5 (full range of the data)", "Window"),
    Shortcut("save_preset_1", ("Shift+1", "!"), "Save the current window as preset 1", "Window"),
    Shortcut("save_preset_2", ("Shift+2", "@"), "Save the current window as preset 2", "Window"),
    Shortcut("save_preset_3", ("Shift+3", "#"), "Save the current window as preset 3", "Window"),
    Shortcut("save_preset_4", ("Shift+4", "$"), "Save the current window as preset 4", "Window"),
    Shortcut("tool_wl", ("W",), "Left drag: window/level (right drag always does)", "Tools"),
    Shortcut("tool_pan", ("P",), "Left drag: pan (middle drag always does)", "Tools"),
    Shortcut("tool_zoom", ("Z",), "Left drag: zoom", "Tools"),
    Shortcut("tool_crosshair", ("C",), "Left click/drag: move the crosshair (MPR)", "Tools"),
    Shortcut("tool_length", ("D",), "Left drag: distance (mm)", "Tools"),
    Shortcut("tool_ellipse", ("E",), "Left drag: ellipse ROI (area, mean, SD, min, max)", "Tools"),
    Shortcut("tool_rectangle", ("B",), "Left drag: rectangle ROI", "Tools"),
    Shortcut("tool_freehand", ("L",), "Left drag: freehand ROI, traced (area, mean, SD, min, max)", "Tools"),
    Shortcut("tool_angle", ("G",), "Left drag the first arm to the vertex, then click the second arm's end: angle", "Tools"),
    Shortcut("tool_arrow", ("Shift+A",), "Left drag from tail to head: arrow", "Tools"),
    Shortcut("tool_text", ("Shift+T",), "Left click: a text on the image", "Tools"),
    Shortcut("tool_point", ("Shift+P",), "Left click: point probe (the value under it)", "Tools"),
    Shortcut("default_tool", ("Esc",), "Back to the window/level tool", "Tools"),
    Shortcut("delete_measurement", ("Del", "Backspace"), "Delete the selected annotation", "Tools"),
    Shortcut("clear_measurements", ("Ctrl+Del",), "Delete every annotation of the series", "Tools"),
    Shortcut("undo", ("Ctrl+Z",), "Undo the last annotation change", "Tools"),
    Shortcut("redo", ("Ctrl+Y", "Ctrl+Shift+Z"), "Redo what was undone", "Tools"),
    Shortcut("tags", ("T",), "DICOM tags of the current slice", "Panels"),
    Shortcut("analyze", ("A", "Ctrl+R"), "Analyse the study with the ticked models (in the background)", "Models"),
    Shortcut("compare", ("V",), "Compare mode: the slice once per model, side by side", "Models"),
    Shortcut("export_report", ("Ctrl+E",), "Export a report (HTML/PDF), the view (PNG) and the results (JSON)", "Models"),
    Shortcut("export_dicom", ("Ctrl+Shift+E",), "Export the results as DICOM (SEG, SR, PDF, key images), optionally to a PACS", "Models"),
    Shortcut("help", ("F1", "?"), "This list", "Help"),
)


def shortcut(command: str) -> Shortcut:
    for item in SHORTCUTS:
        if item.command == command:
            return item
    raise KeyError(command)
