"""Sample quality: FID/KID/IS in Inception's features and the offline classifier_* metrics in the features of a
classifier trained on the data set, through torch-fidelity."""
