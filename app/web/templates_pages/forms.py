from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the template a name."), Length(max=200)])
    subject = StringField("Subject", validators=[Optional(), Length(max=998)])
    html = TextAreaField("HTML", validators=[Optional()])
    text = TextAreaField("Plain text", validators=[Optional()])

    def data_for_service(self) -> dict:
        return {key: getattr(self, key).data or "" for key in ("name", "subject", "html", "text")}
