"""The inference service's routes, one APIRouter per family; services/inference/app.py includes each."""
