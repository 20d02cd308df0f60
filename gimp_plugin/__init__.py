"""The GIMP 3 plug-in (`impasto/`, copied into GIMP's plug-ins folder) and its installer."""
