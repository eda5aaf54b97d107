"""The worklist: every study LungLens has seen, what the models said about it, and in which order to read.

``inference.worklist.index`` keeps the list in a small SQLite file (never pixel data, only
identifiers, status and verdicts); ``inference.worklist.ranking`` orders it for triage and writes it
out as JSON or CSV. Qt-free: the viewer's worklist dock and ``lunglens batch`` both read it.
"""
