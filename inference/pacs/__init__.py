"""Talking to a PACS: server settings (``servers``), DIMSE with pynetdicom (``dimse``: C-ECHO,
C-FIND, C-GET, C-STORE), DICOMweb with dicomweb-client (``dicomweb``: QIDO, WADO, STOW), and the
local store retrieved studies land in (``store``). Qt-free: the CLI and the viewer's dialog share it.
"""
