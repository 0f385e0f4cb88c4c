"""Study configurations of the training layer: the E:I-ratio studies and the deep E–I layers."""
