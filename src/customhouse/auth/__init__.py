"""Who is asking: API tokens bound to a party and roles, and the checks every view calls."""
