"""Pictures of a trained generator: walks through its noise and classes (walk.py), the truncation trick's noise
(training/sampling.py), its samples beside their nearest training images (nearest.py), and the files they are
written to: PNG strips, GIF and MP4 (strips.py)."""
