"""The built-in intent names, apart from the classifier (pipeline.nlp loads numpy and the embedding model;
scripts are validated by web surfaces that must not)."""

UNKNOWN = "unknown"
DIGITS = "digits"
BUILTIN_INTENTS = frozenset(
    {"affirm", "deny", "opt_out", "callback_request", "wrong_person", "ask_repeat", "question", DIGITS, UNKNOWN}
)
