"""Speech for calls: text-to-speech prompts (:mod:`.tts`) and speech recognition (:mod:`.asr`).

Usable without the voice channel: files in, files out. The voice channel plays
``Synthesizer.prompt`` results and feeds call audio to ``Recognizer.stream``.
"""
