"""The reader's annotations (length, angle, ellipse/rectangle/freehand ROI, arrow, text, point probe).

``model`` (the records and the undoable list), ``measuring`` (what each measures) and ``store`` (kept
per series in the user's data folder) are Qt-free; ``overlay`` draws them on a pane and turns mouse
gestures into annotations, ``panel`` lists them, ``session`` ties a window's list to its store.
"""
