"""Speech and dialogue (tts, asr, nlp, script, conversation) and the Celery tasks that drive calls."""
