"""Qt widgets only: they show the pool core's state and send the operator's intents to it."""
