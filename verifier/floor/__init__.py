"""The math floor: the op tables, math namespaces, the expression IR and its JSON form.
Everything else stands on it; it imports nothing of the verifier above it."""
