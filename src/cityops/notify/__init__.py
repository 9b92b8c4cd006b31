"""Notifications to citizens, return visits (回访) and satisfaction: the citizen's side of the loop."""
