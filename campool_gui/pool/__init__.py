"""The master's logic, free of Qt: registry, links, scheduling, failover, alerts, history."""
