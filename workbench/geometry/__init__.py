"""Pure-numpy panorama geometry; :mod:`workbench.geometry.equirect` owns the convention."""
