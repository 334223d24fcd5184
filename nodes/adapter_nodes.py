"""Placeholder until the adapter_nodes nodes land."""
ADAPTER_NODES: list = []
