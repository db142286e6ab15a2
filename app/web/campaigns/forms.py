from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class CampaignForm(FlaskForm):
    name = StringField("Internal name", validators=[Optional(), Length(max=200)])
    list_id = SelectField("List", coerce=int, validators=[DataRequired()])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=998)])
    from_name = StringField("From name", validators=[Optional(), Length(max=200)])
    from_email = EmailField("From address", validators=[DataRequired(), Length(max=254)])
    body_format = SelectField(
        "Format",
        choices=[SelectChoice("markdown", "Markdown"), SelectChoice("html", "HTML")],
        default="markdown",
        coerce=lambda value: getattr(value, "value", value),  # a saved campaign's BodyFormat shows selected
    )
    body = TextAreaField("Body", validators=[DataRequired()])
    track_opens = BooleanField("Track opens (adds a 1-pixel image)", default=True)
    track_clicks = BooleanField("Track clicks (links go through Postroom)", default=True)

    def data_for_service(self) -> dict:
        return {
            key: getattr(self, key).data
            for key in (
                "name",
                "list_id",
                "subject",
                "from_name",
                "from_email",
                "body_format",
                "body",
                "track_opens",
                "track_clicks",
            )
        }


class TestSendForm(FlaskForm):
    addresses = StringField("Send a test to", validators=[DataRequired(), Length(max=1300)])


class SaveTemplateForm(FlaskForm):
    name = StringField("Template name", validators=[DataRequired(), Length(max=200)])
