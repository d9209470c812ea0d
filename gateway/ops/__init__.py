"""Operations, the bottom layer: settings, structured logging, metrics instruments, TLS, native stderr.

Everything above reads settings and logs; nothing here imports another layer.
"""
