"""Services: the one assessment flow (capture → score → store → deliver), where scoring runs (threads
or scoring processes), worker processes, background jobs and the explanation reader.
"""
