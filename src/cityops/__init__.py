"""cityops: city operations platform (城市运行"一网统管")."""

__version__ = "0.1.0"
