"""The processors' fold machinery, shared by the live processors (services/processors: the faust
app around it) and the replay (services/replay): the steps of every projection with their Redis
edge (`pipeline`, `projections`, `billing`, `device_models`, `inference`), their stores and the
write-behind copy (`stores`, `write_behind`), and the one wiring of both (`wiring`)."""
