"""SMSmobileAPI (seed 003): sending and receiving through the account's own phones."""
