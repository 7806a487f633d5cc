"""What several stages share, below all of them: errors, the eager module behind a wrapper and conditional calls,
atomic saves and weights loading, measurement's random streams, pixel conversions, the cache folder, and the
names of what is reported. Nothing here imports another folder of ganrun."""
