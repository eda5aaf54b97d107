"""Reading the DICOM results a study folder holds beside its images (the other half of ``dicom_out``).

``objects`` says which image a SEG or SR refers to, ``segmentation`` places a SEG's segments on that
image's voxel grid (decoded when asked for), ``report`` reads an SR's findings (a LungLens TID 1500
report in full; any other SR by its title). Qt-free: ``lunglens info`` and the viewer share it.
"""
