"""Trade-policy exports (涉碳贸易政策): a record as foreign carbon rules ask for it."""
