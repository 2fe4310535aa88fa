"""The ViciDial Lead Archive API: `POST /vicidial/leads/archive`."""
