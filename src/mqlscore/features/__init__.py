"""Features: one definition for training, batch scoring, the service and explanations."""
