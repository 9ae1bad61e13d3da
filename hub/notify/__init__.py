"""Notifiers and the outbox dispatcher: messages that reach a device or a person.

outbox.py      the durable queue (rows written in the escalation's own transactions)
dispatcher.py  one worker per notifier: sends, retries with backoff, records every attempt
message.py     what a notification says (Vietnamese or English); links.py the ack links
base.py        the `Notifier` interface, `NotifierKind`, `NotifyError`, the HTTP helper
settings.py    the keys every `[notifiers.<name>]` has
registry.py    the notifier types, one line each; `build` makes a notifier from its settings
mqtt.py webhook.py ntfy.py telegram.py sms.py email.py command.py   one per type: its settings,
               its sender, its `KIND`
zalo.py        the types zalo (Official Account message) and zns (template message)
"""
