"""HTTP/JSON beside gRPC: MLflow's REST API, routed by the protos' google.api.http options and
served by the same servicer, so the stock mlflow client works against the registry unchanged."""
