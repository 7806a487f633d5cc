"""The training loop and what it runs on: the parts it trains, EMA, divergence guard, speed options, devices,
torchrun. No Hydra in here."""
