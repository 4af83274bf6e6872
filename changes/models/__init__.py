from .maintenance import (  # noqa: F401
    Evidence,
    MaintenanceChecklistItem,
    MaintenanceChecklistTemplate,
    MaintenanceRecurrence,
    MaintenanceRefused,
    MaintenanceReminder,
    MaintenanceReminderStep,
    MaintenanceRollback,
    MaintenanceType,
    MaintenanceWindow,
    Phase,
)
