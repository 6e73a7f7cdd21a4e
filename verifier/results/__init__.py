"""A campaign's results on disk: summary.json and events.jsonl written and read back, replay
files, the merge of parts and the rebuild of a killed campaign."""
