"""Who may reach what: outbound addresses (egress), trusted proxies, the two-person rule."""
