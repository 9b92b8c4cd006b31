"""The operations dashboard (城市运行驾驶舱) and the operators' workbench, in the browser."""
