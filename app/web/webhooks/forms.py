from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.webhooks.outbox import EVENT_TYPES


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as one checkbox per option."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL", validators=[DataRequired("Enter the URL to send events to."), Length(max=2048)])
    description = StringField("Description", validators=[Optional(), Length(max=200)])
    events = CheckboxesField(
        "Events", choices=[SelectChoice(t, t) for t in EVENT_TYPES], default=[], validate_choice=True
    )
    enabled = BooleanField("Enabled", default=True)

    def data_for_service(self) -> dict:
        return {
            "url": self.url.data,
            "description": self.description.data or "",
            "events": list(self.events.data or []),
            "enabled": self.enabled.data,
        }
