"""Model building and encoding shared by the inference service and the training jobs (torch and transformers
are imported inside functions or by the modules that need them, never by services.core)."""
