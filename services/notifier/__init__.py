"""The notifier: delivers feedback's notices (citizen.notices) by the channel the request
came by, exactly once, with retries and dead letters; outcomes as events on the ticket."""
