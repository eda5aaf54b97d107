"""The reader's annotations (length, angle, ellipse/rectangle/freehand ROI, arrow, text, point probe) on screen.

``overlay`` draws them on a pane and turns mouse gestures into annotations, ``panel`` lists them,
``session`` ties a window's list to its store. The records, what they measure and the store are
Qt-free, in ``viewer.logic.annotations``.
"""
