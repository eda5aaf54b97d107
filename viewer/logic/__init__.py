"""The viewer's logic without Qt: what is drawn and measured, decided in numpy and plain Python.

Layers and their colour tables (``layers``, ``colormaps``), slicing and windowing into arrays
(``display``, ``planes``), Grad-CAM display maps (``cam_display``), the opinions as layers
(``opinion_data``) and as the report's HTML (``summary_html``), mask files (``mask_files``),
measuring (``measure``), presets and hanging protocols (``presets``, ``hanging``), the shortcut table
(``shortcuts``), overlay colours (``overlay_style``) and the annotations' records, measurements and
store (``annotations``). Nothing here imports PySide6 or pyqtgraph (an import contract in
pyproject.toml), so it is tested and reused without a display; the widgets around it import it.
"""
