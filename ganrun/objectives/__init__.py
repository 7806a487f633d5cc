"""What the critic and the generator minimize: losses (each owning the penalty its name promises), the gradient
penalties they share, and regularizers (orthogonal hooks that combine with any loss)."""
