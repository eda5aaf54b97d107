"""Talking to a PACS: server settings (``servers``), one connection per server (``connection``) over
DIMSE with pynetdicom (``dimse``: C-ECHO, C-FIND, C-GET or C-MOVE, C-STORE) or DICOMweb with
dicomweb-client (``dicomweb``: QIDO, WADO, STOW), the rows a query answers (``query``), what every
retrieve shares (``retrieve``) and the local store retrieved studies land in (``store``). Qt-free:
the CLI and the viewer's dialog share it.
"""
