"""The edge: the Hydra entry point, the config schema and its checks, the run's parts built from the config,
resume, launchers and the sweep callback. Nothing below this folder imports it."""
