"""The city's data as an asset: catalogue (一本账), authorised operation (授权运营), exchange (汉数通)."""
