"""LungLens results as DICOM objects a PACS keeps beside the study (highdicom does the encoding).

One module per object: ``sources`` (the images a result refers to), ``segmentation`` (the lung mask
and the Grad-CAM maps as SEG), ``measurement_report`` (TID 1500 SR), ``documents`` (the report as
Encapsulated PDF, key images as Secondary Capture), ``report_pdf`` (a PDF where no viewer made one)
and ``write`` (all of them into a folder). Every object keeps the study's StudyInstanceUID, gets a
new series, and says "research use" in its series description.
"""
