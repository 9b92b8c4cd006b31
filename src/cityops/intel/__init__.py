"""City intelligence (城市智能): classify, locate and merge what people report, offline.

- `model`: the text classifier (char/word TF-IDF + linear model, Platt-calibrated top-k).
- `corpus`: the shipped training text, authored from the catalogue.
- `places`: place extraction against the city pack (districts, roads, waterlogging points).
- `service`: classification for the API and intake; models by version; triage.
- `merge`: duplicate linking across sources with spatial hashing (no O(n²) loops).
- `evaluation`: the stratified 5-fold protocol on a CSV of labelled messages.
- `summary`: a case's summary for operators and a draft reply to the citizen (pure functions).
- `replies`: draft replies measured against real official replies (`cityops eval replies`).
"""
