"""The main screen's panes: models, versions, detail and the activity line."""
