"""What a company runs on its own machine: local keys, signing, and pushing to the exchange."""
