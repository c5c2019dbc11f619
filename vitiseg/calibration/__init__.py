"""Calibration of a photo from references photographed with it: a colour chart (true colours), a scale marker
(pixels per cm) and the patient's own palm (the VASI hand unit in cm2); and the visit-to-visit consistency of the
healthy skin's colour that follows from them.

- :mod:`.chart`: find a 24-patch ColorChecker, fit a colour correction to its reference values, apply it.
- :mod:`.scale`: find ArUco / AprilTag markers of known size -> pixels per cm.
- :mod:`.photo`: both for one photo of ``vitiseg run`` (what is corrected, what is excluded from skin, the
  photos.csv columns).
- :mod:`.hand_unit`: the patient's hand unit from a palm photo (MediaPipe Hands + the skin mask + a marker).
- :mod:`.areas`: lesion patches in cm2 (``patch_areas.csv``).
- :mod:`.consistency`: healthy-skin colour per visit and the patients whose colour moved more than calibration
  explains.
"""
