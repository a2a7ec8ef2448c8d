"""The knowledge base: articles per tenant, searched by agents and sent by FAQ rules."""
