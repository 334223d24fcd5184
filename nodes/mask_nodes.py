"""Placeholder until the mask_nodes nodes land."""
MASK_NODES: list = []
